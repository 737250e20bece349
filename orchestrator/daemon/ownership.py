"""Which active tracks this host works: the track leases it takes, renews, loses and steals.

One mechanism for one host and for many on a shared database: the daemon takes a track's
lease before it activates the track or starts a WO on it, keeps it while the track is
active (each heartbeat renews every lease it holds), and gives it up when the track leaves
``active`` or the daemon stops. Another host's tracks are left alone while their lease is
live. A lease past its expiry means its host stopped beating (killed, frozen, cut off): the
first host to steal it takes the track over, settles the runs left live on it and rebuilds
the worktree from the shared remote (``recovery.recover`` for that one track); the next
dispatch resumes the interrupted session from the shared transcript store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio

from orchestrator.daemon.context import DaemonContext
from orchestrator.daemon.hosting import host_id_of
from orchestrator.daemon.recovery import recover
from orchestrator.daemon.workspace import worktree_path
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.track import Track


def worktree_is_ours(ctx: DaemonContext, track: Track) -> bool:
    """The track's recorded worktree exists under this home's workspaces (after a takeover
    or a graceful hand-over it is the previous host's, or gone)."""
    if not track.worktree_path:
        return False
    mine = worktree_path(ctx.settings.workspaces_dir, track.project_id, track.id)
    return Path(track.worktree_path) == mine and mine.is_dir()


@dataclass
class Ownership:
    ctx: DaemonContext
    #: Tracks whose lease this host holds (as of its last take or heartbeat).
    held: set[str] = field(default_factory=set)
    #: Tracks being made workable here (runs settled, worktree rebuilt): not to be stepped.
    adopting: set[str] = field(default_factory=set)

    @property
    def host_id(self) -> str:
        return host_id_of(self.ctx)

    @property
    def ttl_s(self) -> float:
        return self.ctx.settings.daemon.lease_ttl_s

    async def take(self, track: Track) -> bool:
        """Hold ``track``'s lease (taking it if free); False while another host holds it.

        A track newly taken whose worktree is not this home's (another host worked it) is
        adopted first: its worktree rebuilt here from the remote, its runs settled.
        """
        if track.id in self.adopting:
            return False
        if track.id not in self.held:
            store, host = self.ctx.store, self.host_id
            lease = await anyio.to_thread.run_sync(
                lambda: store.acquire_track_lease(track.id, host, self.ttl_s)
            )
            if lease is None:
                return False
        # Also for a lease held already: a kill between a steal and its adoption leaves the
        # lease this home's and the worktree the old host's.
        if track.status == TrackStatus.ACTIVE.value and not worktree_is_ours(self.ctx, track):
            await self.adopt(track.id)
        self.held.add(track.id)
        return True

    async def elsewhere(self) -> set[str]:
        """Tracks another host holds a lease on (live or expired: an expired one is stolen
        by :meth:`take_over`, which then settles what its host left)."""
        host = self.host_id
        leases = await anyio.to_thread.run_sync(self.ctx.store.track_leases)
        return {lease.track_id for lease in leases if lease.host_id != host}

    async def renew(self) -> set[str]:
        """The heartbeat: renew every lease held; returns the tracks lost meanwhile (stolen
        by a host that found the lease expired), which this host must stop working."""
        store, host = self.ctx.store, self.host_id
        leases = await anyio.to_thread.run_sync(lambda: store.renew_track_leases(host, self.ttl_s))
        still = {lease.track_id for lease in leases}
        lost, self.held = self.held - still, still
        return lost

    async def release_inactive(self, in_use: Collection[str] = ()) -> list[str]:
        """Give up the leases of held tracks that left ``active`` (finished, paused,
        failed): another host may take them up when they come back. Tracks ``in_use`` (a
        step still running on them: a worker draining, a paused variant's evaluation) keep
        theirs until it ends."""
        released = []
        for track_id in sorted(self.held - set(in_use)):
            track = await anyio.to_thread.run_sync(self.ctx.store.get_track, track_id)
            if track.status != TrackStatus.ACTIVE.value:
                await self.release(track_id)
                released.append(track_id)
        return released

    async def release(self, track_id: str) -> None:
        store, host = self.ctx.store, self.host_id
        await anyio.to_thread.run_sync(lambda: store.release_track_lease(track_id, host))
        self.held.discard(track_id)

    async def release_all(self) -> None:
        """At a stop: every track this host held is free for the others at once."""
        for track_id in sorted(self.held):
            await self.release(track_id)

    async def take_over(self) -> list[str]:
        """Steal every expired lease of another host and adopt its track; returns them."""
        store, host = self.ctx.store, self.host_id
        expired = await anyio.to_thread.run_sync(lambda: store.expired_track_leases(host))
        taken = []
        for lease in expired:
            # Adopting from before the steal: once stolen the track is no longer elsewhere,
            # and until adopted it is not workable either; an idle check in between must
            # still see work going on, or the run stops with the track half taken over.
            with self._adopting(lease.track_id):
                stolen = await anyio.to_thread.run_sync(
                    store.steal_track_lease, lease.track_id, host, self.ttl_s
                )
                if stolen is None:
                    continue  # another host was first, or its holder renewed it meanwhile
                self.held.add(lease.track_id)  # a stop meanwhile releases it at once
                self.ctx.log.warning(
                    "track_taken_over",
                    track_id=lease.track_id,
                    previous=stolen.previous_host,
                    silent_s=round((datetime.now(UTC) - lease.heartbeat_at).total_seconds(), 1),
                )
                await self._settle(lease.track_id)
            taken.append(lease.track_id)
        return taken

    @contextmanager
    def _adopting(self, track_id: str) -> Iterator[None]:
        self.adopting.add(track_id)
        try:
            yield
        finally:
            self.adopting.discard(track_id)

    async def adopt(self, track_id: str) -> None:
        """Make a track this host holds workable here: settle the runs left live on it and
        rebuild its worktree under this home from the remote's branch and newest checkpoint.

        Every run on it is settled, whoever ran it: a daemon works a track only while it
        holds its lease, so a run left live on a track whose lease this host now holds is
        its old holder's, whose daemon may still look alive (stalled, cut off).
        """
        with self._adopting(track_id):
            await self._settle(track_id)

    async def _settle(self, track_id: str) -> None:
        await recover(self.ctx, only_track=track_id, whoever_ran=True)
