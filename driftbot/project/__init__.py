"""The user's project: find the Alembic project, run its env.py and revisions (migrate), build
the models' database (models_db, models_process), its include hooks and where objects are declared."""
