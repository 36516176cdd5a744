# rb-migrate's requests, served by one Python process (rb-common's session.py) for the whole
# command: the state, the plan, the data a reversal loses, the run (in one transaction where
# the database allows it), SQLite backups and their restore. Names arrive as JSON data, never
# as code.
import io
import re
import sqlite3

from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import RunPython, RunSQL, SeparateDatabaseAndState

# What is running now: the migration (from migrate's own progress) and the operation (from
# the wrapped database_forwards/backwards), for naming a failure.
CURRENT = {"migration": None, "operation": None}


def _migrations(graph, label):
    seen, names = set(), []
    for leaf in graph.leaf_nodes(label):
        for node in graph.forwards_plan(leaf):
            if node[0] == label and node not in seen:
                seen.add(node)
                names.append(node[1])
    return names


def _parents(graph, label, name):
    return sorted(p[1] for p in graph.node_map[(label, name)].parents if p[0] == label)


def _reversible(op):
    if isinstance(op, SeparateDatabaseAndState):
        return all(_reversible(o) for o in op.database_operations)
    return bool(getattr(op, "reversible", True))


def _atomic(migration):
    """False when Django would run part of the migration outside a transaction."""
    return bool(migration.atomic)


def state(apps):
    executor = MigrationExecutor(connection)
    loader, graph = executor.loader, executor.loader.graph
    applied = loader.applied_migrations
    labels = apps or sorted(loader.migrated_apps)
    return {
        "vendor": connection.vendor,
        "engine": connection.settings_dict["ENGINE"],
        "database": str(connection.settings_dict["NAME"]),
        "unknown": [label for label in labels if label not in loader.migrated_apps],
        "apps": [
            {
                "app": label,
                "migrations": [
                    {"name": n, "applied": (label, n) in applied, "parents": _parents(graph, label, n)}
                    for n in _migrations(graph, label)
                ],
            }
            for label in labels
            if label in loader.migrated_apps
        ],
    }


def _count(table, column=None):
    q = connection.ops.quote_name
    sql = f"SELECT COUNT(*) FROM {q(table)}"
    if column:
        sql += f" WHERE {q(column)} IS NOT NULL"
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    except Exception:
        return None


def _model(st, app, model):
    ms = st.models.get((app, model))
    if ms is None or ms.options.get("proxy") or ms.options.get("managed", True) is False:
        return None
    return ms, ms.options.get("db_table") or f"{app}_{model}"


def _loss(loader, migration):
    """What undoing `migration` loses that applying it again will not bring back."""
    lost = []
    st = None
    for op in migration.operations:
        if isinstance(op, (ops.CreateModel, ops.AddField)):
            if st is None:
                st = loader.project_state((migration.app_label, migration.name), at_end=True)
            name = op.name_lower if isinstance(op, ops.CreateModel) else op.model_name_lower
            found = _model(st, migration.app_label, name)
            if found is None:
                continue
            ms, table = found
            if isinstance(op, ops.CreateModel):
                rows = _count(table)
                what = f"drops table {table}"
                entry = {"table": table}
            else:
                field = ms.fields[op.name].clone()
                field.set_attributes_from_name(op.name)
                if field.many_to_many:
                    continue
                rows = _count(table, field.column)
                what = f"drops column {table}.{field.column}"
                entry = {"table": table, "column": field.column}
            if rows:
                noun = "row" if rows == 1 else "rows"
                entry.update(operation=op.describe(), rows=rows, why=f"{what} with {rows} {noun} in it")
                lost.append(entry)
        elif isinstance(op, RunPython) and op.reverse_code is RunPython.noop:
            lost.append({"operation": op.describe(), "why": "its reverse does nothing: what it wrote stays, and apply runs it again over it"})
        elif isinstance(op, RunSQL) and op.reverse_sql == RunSQL.noop:
            lost.append({"operation": op.describe(), "why": "its reverse is no SQL at all: what it changed stays as it is"})
    return lost


def plan(targets):
    executor = MigrationExecutor(connection)
    steps = []
    for m, backwards in executor.migration_plan([(a, None if t == "zero" else t) for a, t in targets]):
        steps.append(
            {
                "migration": f"{m.app_label}.{m.name}",
                "app": m.app_label,
                "name": m.name,
                "direction": "backward" if backwards else "forward",
                "irreversible": backwards and not all(_reversible(op) for op in m.operations),
                "data_only": all(isinstance(op, (RunPython, RunSQL)) for op in m.operations),
                "atomic": _atomic(m),
                "operations": [op.describe() for op in m.operations],
                "loss": _loss(executor.loader, m) if backwards else [],
            }
        )
    return {"steps": steps}


def _wrap_operations():
    """Names the operation that fails: each operation of every migration on disk records
    itself before it touches the database (the loader shares operation objects)."""
    executor = MigrationExecutor(connection)
    for migration in executor.loader.disk_migrations.values():
        for op in migration.operations:
            if getattr(op, "_rb_wrapped", False):
                continue
            for method in ("database_forwards", "database_backwards"):
                original = getattr(op, method)

                def wrapped(*args, _original=original, _op=op, **kwargs):
                    CURRENT["operation"] = _op.describe()
                    return _original(*args, **kwargs)

                setattr(op, method, wrapped)
            op._rb_wrapped = True


class _Progress(io.TextIOBase):
    """migrate's own output, read for its `  Unapplying app.name...` lines: each becomes a
    progress line for rb and the migration a failure names."""

    START = re.compile(r"\s*(Unapplying|Applying) (\S+?)\.\.\.")

    def __init__(self, total):
        self.total, self.done, self.text = total, 0, []

    def write(self, s):
        self.text.append(s)
        m = self.START.match(s)
        if m:
            self.done += 1
            CURRENT["migration"], CURRENT["operation"] = m.group(2), None
            session_progress(f"{self.done}/{self.total} {m.group(1).lower()} {m.group(2)}")
        return len(s)


class _Rehearsal(Exception):
    pass


def _first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def run(calls, total, one_transaction, rehearse, lock_timeout_ms):
    """Runs `migrate` once per call: in one transaction when asked (committed only when every
    step and the constraint checks passed; rolled back for a rehearsal), else as Django does,
    one transaction per migration."""
    _wrap_operations()
    vendor = connection.vendor
    out = _Progress(total)
    CURRENT.update(migration=None, operation=None)
    connection.ensure_connection()
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{int(lock_timeout_ms)}ms'")
    if one_transaction and vendor == "sqlite" and not connection.disable_constraint_checking():
        raise Refused("SQLite would not turn its foreign key checks off")
    answer = {"ok": True, "rehearsed": bool(rehearse), "failed": None}
    try:
        with transaction.atomic() if one_transaction else _Nothing():
            for call in calls:
                args = [a for a in (call.get("app"), call.get("target")) if a]
                call_command(
                    "migrate", *args, fake=bool(call.get("fake")), interactive=False, verbosity=1,
                    no_color=True, stdout=out, stderr=out,
                )
            if one_transaction:
                with connection.cursor() as cursor:
                    if vendor == "postgresql":
                        CURRENT["operation"] = "SET CONSTRAINTS ALL IMMEDIATE"
                        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    elif vendor == "sqlite":
                        CURRENT["operation"] = "PRAGMA foreign_key_check"
                        broken = cursor.execute("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise Refused(f"foreign keys left pointing nowhere: {broken[:5]}")
            if rehearse:
                raise _Rehearsal()
    except _Rehearsal:
        pass
    except Exception as e:
        text = str(e)
        answer = {
            "ok": False,
            "rehearsed": bool(rehearse),
            "failed": {"migration": CURRENT["migration"], "operation": CURRENT["operation"], "error": _first_line(e)},
            "pending_trigger_events": "pending trigger events" in text,
        }
    finally:
        if one_transaction and vendor == "sqlite":
            connection.enable_constraint_checking()
    return answer


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def backup_sqlite(path):
    """SQLite's online backup of the live database into `path` (consistent while the app
    runs), checked with PRAGMA integrity_check."""
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        with target:
            connection.connection.backup(target)
        return {"integrity": target.execute("PRAGMA integrity_check").fetchone()[0]}
    finally:
        target.close()


def restore_sqlite(path):
    """Puts the backup at `path` back into the live database, page by page, in one step."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = source.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise Refused(f"the backup fails PRAGMA integrity_check: {integrity}")
        connection.ensure_connection()
        source.backup(connection.connection)
    finally:
        source.close()
    connection.close()
    return {"integrity": "ok"}


def database():
    """How to reach the database, for pg_dump, pg_restore and psql (the password travels to
    rb on this pipe and to them in PGPASSWORD, never on a command line)."""
    s = connection.settings_dict
    return {
        "vendor": connection.vendor,
        "engine": s["ENGINE"],
        "name": str(s["NAME"]),
        "host": str(s.get("HOST") or ""),
        "port": str(s.get("PORT") or ""),
        "user": str(s.get("USER") or ""),
        "password": str(s.get("PASSWORD") or ""),
    }


session_progress = progress
serve({
    "state": state,
    "plan": plan,
    "run": run,
    "backup_sqlite": backup_sqlite,
    "restore_sqlite": restore_sqlite,
    "database": database,
})
