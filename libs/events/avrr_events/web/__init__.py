"""Everything of the library that imports FastAPI or Starlette (the REST side)."""
