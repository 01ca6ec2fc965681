-- One database per service, plus the shared key store (ARCHITECTURE.md section 2 and 5).
CREATE DATABASE avrr_intake OWNER avrr;
CREATE DATABASE avrr_eligibility OWNER avrr;
CREATE DATABASE avrr_travel OWNER avrr;
CREATE DATABASE avrr_reintegration OWNER avrr;
CREATE DATABASE avrr_keys OWNER avrr;
