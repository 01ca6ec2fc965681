"""AVRR reintegration: who gets reintegration assistance, the plan, the assistance ledger,
referrals to local services, monitoring visits and sustainability scoring."""
