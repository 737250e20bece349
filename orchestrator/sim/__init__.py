"""Offline model simulator: a Messages-API-compatible server on loopback that plays our roles.

Point the real Claude Code CLI at ``SimServer.base_url`` (see ``sim_env``); the simulator
reads the role line of the system prompt and the payload block of the prompt
(``orchestrator.domain.payload``) and answers with the tool calls a sensible agent would make.
It imports only the standard library and ``orchestrator.domain``.
"""

from __future__ import annotations

from orchestrator.sim.conversation import Conversation, RequestError, parse_request
from orchestrator.sim.faults import (
    FaultInjector,
    FaultKind,
    FaultScope,
    FaultSpec,
    parse_fault_spec,
)
from orchestrator.sim.reply import CHARS_PER_TOKEN, Reply, ToolCall, estimate_tokens
from orchestrator.sim.roles import respond
from orchestrator.sim.serve import SIM_API_KEY, serve_forever, sim_env
from orchestrator.sim.server import SimServer
from orchestrator.sim.stats import OTHER_ROLE

__all__ = [
    "CHARS_PER_TOKEN",
    "OTHER_ROLE",
    "SIM_API_KEY",
    "Conversation",
    "FaultInjector",
    "FaultKind",
    "FaultScope",
    "FaultSpec",
    "Reply",
    "RequestError",
    "SimServer",
    "ToolCall",
    "estimate_tokens",
    "parse_fault_spec",
    "parse_request",
    "respond",
    "serve_forever",
    "sim_env",
]
