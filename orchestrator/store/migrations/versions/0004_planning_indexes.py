"""planning reads by index: WO status mirrored on track links, track costs kept by triggers

The dispatch loop asks, many times a second, which WOs of each active track are unfinished
and which can start. With the WO's status and priority on ``wo_tracks`` (kept there by the
triggers below, in the same transaction as every change) that is one index range per track,
which never touches the finished WOs; a track's spend is one row of ``track_costs``
instead of a sum over all its runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: SQLite's triggers (PostgreSQL's are ``PG_TRIGGERS`` below).
TRIGGERS = {
    # A new link is counted under the status it was inserted with (a placeholder), then
    # takes the WO's current status and priority: that update moves the count (below). One
    # trigger, so the order of the two steps is fixed.
    "wo_tracks_on_link": """
        CREATE TRIGGER wo_tracks_on_link AFTER INSERT ON wo_tracks BEGIN
            INSERT INTO track_wo_counts (track_id, status, n) VALUES (NEW.track_id, NEW.wo_status, 1)
            ON CONFLICT (track_id, status) DO UPDATE SET n = n + 1;
            UPDATE wo_tracks
            SET wo_status = (SELECT status FROM work_orders WHERE id = NEW.wo_id),
                wo_priority = (SELECT priority FROM work_orders WHERE id = NEW.wo_id)
            WHERE wo_id = NEW.wo_id AND track_id = NEW.track_id;
        END""",
    # A WO's change reaches all its links.
    "work_orders_mirror_on_change": """
        CREATE TRIGGER work_orders_mirror_on_change
        AFTER UPDATE OF status, priority ON work_orders BEGIN
            UPDATE wo_tracks SET wo_status = NEW.status, wo_priority = NEW.priority
            WHERE wo_id = NEW.id;
        END""",
    # Counts per track and status follow the mirrored status.
    "wo_tracks_count_on_update": """
        CREATE TRIGGER wo_tracks_count_on_update AFTER UPDATE OF wo_status ON wo_tracks
        WHEN NEW.wo_status IS NOT OLD.wo_status BEGIN
            UPDATE track_wo_counts SET n = n - 1
            WHERE track_id = OLD.track_id AND status = OLD.wo_status;
            INSERT INTO track_wo_counts (track_id, status, n) VALUES (NEW.track_id, NEW.wo_status, 1)
            ON CONFLICT (track_id, status) DO UPDATE SET n = n + 1;
        END""",
    "wo_tracks_count_on_delete": """
        CREATE TRIGGER wo_tracks_count_on_delete AFTER DELETE ON wo_tracks BEGIN
            UPDATE track_wo_counts SET n = n - 1
            WHERE track_id = OLD.track_id AND status = OLD.wo_status;
        END""",
    # A track's spend follows its runs' costs (they grow as a session streams).
    "agent_runs_cost_on_insert": """
        CREATE TRIGGER agent_runs_cost_on_insert AFTER INSERT ON agent_runs
        WHEN NEW.track_id IS NOT NULL BEGIN
            INSERT INTO track_costs (track_id, cost_usd) VALUES (NEW.track_id, NEW.cost_usd)
            ON CONFLICT (track_id) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd;
        END""",
    "agent_runs_cost_on_update": """
        CREATE TRIGGER agent_runs_cost_on_update
        AFTER UPDATE OF cost_usd, track_id ON agent_runs BEGIN
            UPDATE track_costs SET cost_usd = cost_usd - OLD.cost_usd
            WHERE track_id = OLD.track_id;
            INSERT INTO track_costs (track_id, cost_usd)
            SELECT NEW.track_id, NEW.cost_usd WHERE NEW.track_id IS NOT NULL
            ON CONFLICT (track_id) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd;
        END""",
    "agent_runs_cost_on_delete": """
        CREATE TRIGGER agent_runs_cost_on_delete AFTER DELETE ON agent_runs BEGIN
            UPDATE track_costs SET cost_usd = cost_usd - OLD.cost_usd
            WHERE track_id = OLD.track_id;
        END""",
}


#: The same bookkeeping on PostgreSQL: plpgsql functions, one per trigger above (the new
#: link takes its WO's status and priority before it is inserted, then is counted).
PG_TRIGGERS: dict[str, tuple[str, str, str]] = {
    # name: (table, "BEFORE/AFTER event [WHEN (...)]", function body)
    "wo_tracks_mirror_on_link": (
        "wo_tracks",
        "BEFORE INSERT",
        """SELECT status, priority INTO NEW.wo_status, NEW.wo_priority
           FROM work_orders WHERE id = NEW.wo_id;
           RETURN NEW;""",
    ),
    "wo_tracks_on_link": (
        "wo_tracks",
        "AFTER INSERT",
        """INSERT INTO track_wo_counts AS c (track_id, status, n)
           VALUES (NEW.track_id, NEW.wo_status, 1)
           ON CONFLICT (track_id, status) DO UPDATE SET n = c.n + 1;
           RETURN NULL;""",
    ),
    "work_orders_mirror_on_change": (
        "work_orders",
        "AFTER UPDATE OF status, priority"
        " WHEN (NEW.status IS DISTINCT FROM OLD.status"
        " OR NEW.priority IS DISTINCT FROM OLD.priority)",
        """UPDATE wo_tracks SET wo_status = NEW.status, wo_priority = NEW.priority
           WHERE wo_id = NEW.id;
           RETURN NULL;""",
    ),
    "wo_tracks_count_on_update": (
        "wo_tracks",
        "AFTER UPDATE OF wo_status WHEN (NEW.wo_status IS DISTINCT FROM OLD.wo_status)",
        """UPDATE track_wo_counts SET n = n - 1
           WHERE track_id = OLD.track_id AND status = OLD.wo_status;
           INSERT INTO track_wo_counts AS c (track_id, status, n)
           VALUES (NEW.track_id, NEW.wo_status, 1)
           ON CONFLICT (track_id, status) DO UPDATE SET n = c.n + 1;
           RETURN NULL;""",
    ),
    "wo_tracks_count_on_delete": (
        "wo_tracks",
        "AFTER DELETE",
        """UPDATE track_wo_counts SET n = n - 1
           WHERE track_id = OLD.track_id AND status = OLD.wo_status;
           RETURN NULL;""",
    ),
    "agent_runs_cost_on_insert": (
        "agent_runs",
        "AFTER INSERT WHEN (NEW.track_id IS NOT NULL)",
        """INSERT INTO track_costs AS c (track_id, cost_usd) VALUES (NEW.track_id, NEW.cost_usd)
           ON CONFLICT (track_id) DO UPDATE SET cost_usd = c.cost_usd + excluded.cost_usd;
           RETURN NULL;""",
    ),
    "agent_runs_cost_on_update": (
        "agent_runs",
        "AFTER UPDATE OF cost_usd, track_id"
        " WHEN (NEW.cost_usd IS DISTINCT FROM OLD.cost_usd"
        " OR NEW.track_id IS DISTINCT FROM OLD.track_id)",
        """UPDATE track_costs SET cost_usd = cost_usd - OLD.cost_usd
           WHERE track_id = OLD.track_id;
           IF NEW.track_id IS NOT NULL THEN
               INSERT INTO track_costs AS c (track_id, cost_usd)
               VALUES (NEW.track_id, NEW.cost_usd)
               ON CONFLICT (track_id) DO UPDATE SET cost_usd = c.cost_usd + excluded.cost_usd;
           END IF;
           RETURN NULL;""",
    ),
    "agent_runs_cost_on_delete": (
        "agent_runs",
        "AFTER DELETE",
        """UPDATE track_costs SET cost_usd = cost_usd - OLD.cost_usd
           WHERE track_id = OLD.track_id;
           RETURN NULL;""",
    ),
}


def _on_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _create_triggers() -> None:
    if not _on_postgres():
        for ddl in TRIGGERS.values():
            op.execute(ddl)
        return
    for name, (table, when, body) in PG_TRIGGERS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$"
        )
        event, _, condition = when.partition(" WHEN ")
        timing, _, operation = event.partition(" ")
        op.execute(
            f"CREATE TRIGGER {name} {timing} {operation} ON {table} FOR EACH ROW"
            + (f" WHEN {condition}" if condition else "")
            + f" EXECUTE FUNCTION {name}()"
        )


def _drop_triggers() -> None:
    if not _on_postgres():
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        return
    for name, (table, _when, _body) in PG_TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {name}()")


def upgrade() -> None:
    op.create_table(
        "track_wo_counts",
        sa.Column("track_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("track_id", "status"),
    )
    op.create_table(
        "track_costs",
        sa.Column("track_id", sa.String(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("track_id"),
    )
    op.execute(
        "INSERT INTO track_costs (track_id, cost_usd) SELECT track_id, coalesce(sum(cost_usd), 0)"
        " FROM agent_runs WHERE track_id IS NOT NULL GROUP BY track_id"
    )
    op.add_column(
        "wo_tracks", sa.Column("wo_status", sa.String(), nullable=False, server_default="")
    )
    op.add_column(
        "wo_tracks", sa.Column("wo_priority", sa.Integer(), nullable=False, server_default="3")
    )
    op.execute(
        "UPDATE wo_tracks SET"
        " wo_status = (SELECT status FROM work_orders WHERE id = wo_tracks.wo_id),"
        " wo_priority = (SELECT priority FROM work_orders WHERE id = wo_tracks.wo_id)"
    )
    op.execute(
        "INSERT INTO track_wo_counts (track_id, status, n)"
        " SELECT track_id, wo_status, count(*) FROM wo_tracks GROUP BY track_id, wo_status"
    )
    _create_triggers()
    op.create_index(
        "ix_wo_tracks_track_status_priority",
        "wo_tracks",
        ["track_id", "wo_status", "wo_priority", "wo_id"],
    )
    op.create_index("ix_work_orders_id_status", "work_orders", ["id", "status"])
    op.create_index(
        "ix_agent_runs_track_role_started", "agent_runs", ["track_id", "role", "started_at"]
    )
    op.create_index("ix_agent_runs_started_cost", "agent_runs", ["started_at", "cost_usd"])


def downgrade() -> None:
    op.drop_index("ix_agent_runs_started_cost", table_name="agent_runs")
    op.drop_index("ix_agent_runs_track_role_started", table_name="agent_runs")
    op.drop_index("ix_work_orders_id_status", table_name="work_orders")
    op.drop_index("ix_wo_tracks_track_status_priority", table_name="wo_tracks")
    _drop_triggers()
    with op.batch_alter_table("wo_tracks") as batch:
        batch.drop_column("wo_priority")
        batch.drop_column("wo_status")
    op.drop_table("track_costs")
    op.drop_table("track_wo_counts")
