"""Shared by the benches that load millions of rows into PostgreSQL (bench/api.py,
bench/phi_report.py): a fresh schema with every model's table, created directly instead of
through the migrations, plus what the migrations do beyond the models (the PHI tables' fillfactor)."""
import importlib


def log(msg):
    print(msg, flush=True)


def fresh_schema():
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    with connection.schema_editor() as editor:
        for model in apps.get_models(include_auto_created=False):
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)
        importlib.import_module("curation.phi.migrations.0002_fillfactor").set_fillfactor(apps, editor)
