"""several hosts: registered hosts, track leases, a project's shared remote

Several daemons (one per state home) may share one database. Each registers as a host; an
active track is worked by the host holding its lease; a project may name the git remote the
hosts exchange branches and checkpoint refs through. Plain tables and columns only: the same
revision runs on SQLite and PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("hostname", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("home", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "track_leases",
        sa.Column("track_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("host_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("acquired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ttl_s", sa.Float(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"]),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"]),
        sa.PrimaryKeyConstraint("track_id"),
    )
    op.create_index("ix_track_leases_host", "track_leases", ["host_id"])
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column(
                "remote", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch.add_column(sa.Column("host_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table("daemon_lease") as batch:
        batch.add_column(sa.Column("host_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index("ux_daemon_lease_host", "daemon_lease", ["host_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_daemon_lease_host", table_name="daemon_lease")
    with op.batch_alter_table("daemon_lease") as batch:
        batch.drop_column("host_id")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("host_id")
        batch.drop_column("remote")
    op.drop_index("ix_track_leases_host", table_name="track_leases")
    op.drop_table("track_leases")
    op.drop_table("hosts")
