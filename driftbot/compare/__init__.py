"""Compare two databases: read catalogs (catalog, objects), decide equivalence by PostgreSQL
(equivalence), diff into Findings (diff, findings), the one table of finding kinds (kinds), ignore rules."""
