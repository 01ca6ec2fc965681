{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "avrr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name; per-service objects append "-<service>". */}}
{{- define "avrr.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "avrr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "avrr.labels" -}}
helm.sh/chart: {{ include "avrr.chart" . }}
{{ include "avrr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: avrr
{{- end -}}

{{- define "avrr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "avrr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one service: call with (dict "root" $ "name" "intake"). */}}
{{- define "avrr.serviceLabels" -}}
{{ include "avrr.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "avrr.serviceSelectorLabels" -}}
{{ include "avrr.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "avrr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "avrr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "avrr.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret with the credentials (created or existing). */}}
{{- define "avrr.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.create -}}
{{- include "avrr.fullname" . -}}
{{- else -}}
{{- fail "set secrets.existingSecret, or secrets.create=true" -}}
{{- end -}}
{{- end -}}

{{- define "avrr.configName" -}}
{{- include "avrr.fullname" . -}}-config
{{- end -}}

{{/* Secret key of a service's DATABASE_URL. */}}
{{- define "avrr.databaseUrlKey" -}}
DATABASE_URL_{{ upper . }}
{{- end -}}

{{- /* Each service is its own Kafka principal: its own Secret keys (ACLs per principal). */ -}}
{{- define "avrr.saslUsernameKey" -}}
KAFKA_SASL_USERNAME_{{ upper . }}
{{- end -}}

{{- define "avrr.saslPasswordKey" -}}
KAFKA_SASL_PASSWORD_{{ upper . }}
{{- end -}}

{{- define "avrr.saslEnabled" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "avrr.tlsEnabled" -}}
{{- if hasSuffix "SSL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{/* A service's values: serviceDefaults deep-merged under services.<name>. */}}
{{- define "avrr.serviceValues" -}}
{{- $own := deepCopy (index .root.Values.services .name) -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.serviceDefaults) $own) -}}
{{- end -}}

{{/*
Environment of a service's container, shared by its Deployment and its setup
Job: (dict "root" $ "name" "intake"). Plain settings come from the ConfigMap
(envFrom), credentials from the Secret.
*/}}
{{- define "avrr.env" -}}
{{- $root := .root -}}
{{- $secret := include "avrr.secretName" $root -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "avrr.databaseUrlKey" .name }}
- name: AVRR_KEYSTORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: AVRR_KEYSTORE_URL
- name: AVRR_MASTER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: AVRR_MASTER_KEY
{{- range (index $root.Values.services .name).secretEnv | default list }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
{{- end }}
{{- if include "avrr.saslEnabled" $root }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "avrr.saslUsernameKey" .name }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "avrr.saslPasswordKey" .name }}
{{- end }}
{{- if and (include "avrr.tlsEnabled" $root) $root.Values.kafka.tls.caSecret }}
- name: KAFKA_SSL_CAFILE
  value: /etc/avrr/kafka-ca/{{ $root.Values.kafka.tls.caKey }}
{{- end }}
- name: AVRR_PATH_PREFIX
  value: /{{ .name }}
{{- if $root.Values.config.otel.endpoint }}
- name: OTEL_SERVICE_NAME
  value: avrr-{{ .name }}
{{- end }}
{{- end -}}

{{/* Volumes every AVRR container needs (read-only root filesystem: /tmp). */}}
{{- define "avrr.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and (include "avrr.tlsEnabled" .) .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
{{- end }}
{{- end -}}

{{- define "avrr.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and (include "avrr.tlsEnabled" .) .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/avrr/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The Deployments of one service under the chosen topology, as YAML
{units: [{suffix, role, values}]}: (dict "root" $ "name" "intake").
combined: one unit, role "all" (named and labelled as before the split
existed, so an upgrade keeps its selector). split: "-api" (role api: the
REST API, no background task) and "-worker" (role worker: consumer, relays,
jobs; serviceDefaults.worker / services.<name>.worker deep-merged over the
service's values).
*/}}
{{- define "avrr.units" -}}
{{- $svc := include "avrr.serviceValues" . | fromYaml -}}
{{- $base := omit $svc "worker" -}}
{{- if eq .root.Values.topology "split" -}}
{{- $worker := mergeOverwrite (deepCopy $base) (deepCopy (default dict $svc.worker)) -}}
{{- toYaml (dict "units" (list (dict "suffix" "-api" "role" "api" "values" $base) (dict "suffix" "-worker" "role" "worker" "values" $worker))) -}}
{{- else -}}
{{- toYaml (dict "units" (list (dict "suffix" "" "role" "all" "values" $base))) -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of one unit: (dict "root" $ "name" "intake" "role" "api"). */}}
{{- define "avrr.unitSelectorLabels" -}}
{{ include "avrr.serviceSelectorLabels" . }}
{{- if ne .role "all" }}
avrr/role: {{ .role }}
{{- end }}
{{- end -}}

{{- define "avrr.unitLabels" -}}
{{ include "avrr.serviceLabels" . }}
{{- if ne .role "all" }}
avrr/role: {{ .role }}
{{- end }}
{{- end -}}
