"""One root error; every error a user can cause is a subclass with a one-line message."""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error the orchestrator raises on purpose.

    The CLI prints ``str(error)`` as one line and exits with ``exit_code``.
    """

    exit_code = 1


class UserInputError(OrchestratorError):
    """The user's input is bad: nothing was changed."""

    exit_code = 2


class ValidationError(UserInputError):
    """A value does not satisfy the domain's rules (id, slug, field type, ...)."""


class NotFoundError(UserInputError):
    """A named object (project, WO, track, run, proposal) does not exist."""


class IllegalTransitionError(UserInputError):
    """A lifecycle move that the lifecycle does not allow."""


class WorkOrderFileError(UserInputError):
    """One or more work order files could not be imported; lists every bad file."""


class ConfigError(UserInputError):
    """The settings file or an ORCH_* variable is wrong."""


class DaemonRunningError(UserInputError):
    """Another daemon holds this state home's lease."""


class GitError(OrchestratorError):
    """A git command failed."""


class WorktreeIntegrityError(GitError):
    """A track's worktree is not what the daemon made it (git dir, HEAD): nothing committed."""


class MergeConflictError(GitError):
    """A merge would conflict; ``files`` names the conflicting paths."""

    def __init__(self, message: str, files: list[str]) -> None:
        super().__init__(message)
        self.files = files


class StoreError(OrchestratorError):
    """The state database failed a call (not the caller's input): one line, exit status 1.

    Raised by every store backend in place of its driver's errors, so callers above the
    store never see SQLAlchemy or driver types. The driver's error is kept as ``__cause__``.
    Unknown ids and bad values are still ``NotFoundError`` and ``ValidationError``.
    """


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened (no file, no server, refused connection)."""


class StoreBusy(StoreUnavailable):
    """Another writer held a lock longer than the store waits for it; worth retrying later."""


class StoreCorrupt(StoreError):
    """The database's content is not a state DB or is damaged (``orch recover`` will not help)."""


class StoreConflict(StoreError):
    """A write broke a database constraint the store did not check first (a race, a bug)."""


class AgentError(OrchestratorError):
    """An agent session failed for good (after retries)."""


class TransientAgentError(AgentError):
    """An agent session failed in a way worth retrying (429, 529, 5xx, cut stream)."""


class RateLimitedError(TransientAgentError):
    """The model service asked us to wait; ``retry_after_s`` says how long."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BackendUnavailableError(AgentError):
    """No session can succeed until a human acts (no login, a refused key, no connection).

    The run parks: it stops starting sessions and says ``str(error)`` as its one line; the
    work order in hand goes back in line with its attempt not counted.
    """


class AuthenticationError(BackendUnavailableError):
    """The model backend refused our credentials, or there are none (``claude /login``)."""


class BackendUnreachableError(TransientAgentError):
    """The model backend could not be reached (refused, reset, no route, DNS).

    Retried like any transient failure within a session; when the retries give up, the run
    parks as for a ``BackendUnavailableError``.
    """


class BudgetSpentError(AgentError):
    """The session's share of the run's ``--budget`` (or its track's budget) is spent.

    Not the work's fault: the WO goes back in line with its attempt not counted.
    """


class AgentLimitError(AgentError):
    """A limit the daemon enforces (wall clock, idle, turns, cost) ended the session."""
