"""The agent runtime: sessions of Claude Code agents, their tools, prompts and limits.

Imports only the standard library, third-party libraries and ``orchestrator.domain``.
"""

from .classify import ResumeNotFoundError, classify_exception, classify_result
from .claude_runtime import ClaudeRun, ClaudeRuntime
from .events import (
    AgentEvent,
    ApiError,
    Result,
    SessionStarted,
    Text,
    ToolCall,
    ToolResult,
    Usage,
)
from .fake_runtime import (
    CallTool,
    Fail,
    FakeRun,
    FakeRuntime,
    Finish,
    Hang,
    Say,
    Spend,
    Step,
    Write,
)
from .guard import guard_hooks, make_worktree_guard, write_denial
from .limits import LimitName, Limits
from .mcp_tools import build_mcp_server, invoke_tool
from .processes import end_orphans, end_pids, end_process_tree, find_agent_processes
from .prompts import continue_prompt, recovery_prompt, system_prompt, user_prompt
from .protocol import AgentRun, AgentRuntime, SessionSpec, ToolHandler, ToolReply
from .retry import DEFAULT_RETRY_POLICY, AttemptInfo, RetryPolicy, retrying
from .runner import SessionOutcome, run_session
from .translate import translate

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "AgentEvent",
    "AgentRun",
    "AgentRuntime",
    "ApiError",
    "AttemptInfo",
    "CallTool",
    "ClaudeRun",
    "ClaudeRuntime",
    "Fail",
    "FakeRun",
    "FakeRuntime",
    "Finish",
    "Hang",
    "LimitName",
    "Limits",
    "Result",
    "ResumeNotFoundError",
    "RetryPolicy",
    "Say",
    "SessionOutcome",
    "SessionSpec",
    "SessionStarted",
    "Spend",
    "Step",
    "Text",
    "ToolCall",
    "ToolHandler",
    "ToolReply",
    "ToolResult",
    "Usage",
    "Write",
    "build_mcp_server",
    "classify_exception",
    "classify_result",
    "continue_prompt",
    "end_orphans",
    "end_pids",
    "end_process_tree",
    "find_agent_processes",
    "guard_hooks",
    "invoke_tool",
    "make_worktree_guard",
    "recovery_prompt",
    "retrying",
    "run_session",
    "system_prompt",
    "translate",
    "user_prompt",
    "write_denial",
]
