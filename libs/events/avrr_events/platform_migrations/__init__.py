"""The platform migration line: the tables every service database has (see migrations.py)."""
