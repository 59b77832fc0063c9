"""Testing a data migration on a real database: find it by name, migrate to it or before it, and read the models of
that state."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migration_and_before(app, name_end):
    """(app, the migration whose name ends with `name_end`) and the app's migration before it, by name (their numbers
    may change at a merge)."""
    graph = MigrationExecutor(connection).loader.graph
    (target,) = [key for key in graph.nodes if key[0] == app and key[1].endswith(name_end)]
    (before,) = [parent for parent in graph.node_map[target].parents if parent.key[0] == app]
    return target, before.key


def migrate_to(node):
    """Migrate `node`'s app to `node` (the other apps stay at today's, less what depends on the migrations undone);
    returns the apps of the state the database is in."""
    executor = MigrationExecutor(connection)
    executor.migrate([node])
    executor.loader.build_graph()
    applied = set(executor.loader.applied_migrations)
    graph = executor.loader.graph
    heads = [key for key in applied
             if not any(child.key in applied and child.key[0] == key[0] for child in graph.node_map[key].children)]
    return executor.loader.project_state(heads).apps


def migrate_to_today():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
