"""What ``POST /v1/responses`` accepts, checked as the OpenAI Responses API checks it.

The fields, their types and their allowed values follow the API's published description (the
request parameters of "Create a model response", as the official SDKs' generated types spell them),
plus ``client_metadata``: the API takes it from Codex (a map of strings) though the reference does not
list it. A request that does not fit gets the API's error: HTTP 400 with
``{"error": {"message", "type": "invalid_request_error", "param", "code"}}`` in the API's wording:

- a body that is not JSON: ``We could not parse the JSON body of your request.``, param and code null;
- a body that is not an object: ``invalid_type``;
- a top-level (or ``reasoning``, ``text``, ...) key the API does not know: ``Unknown parameter: 'x'.``,
  code ``unknown_parameter``;
- no ``model``, or no ``input`` (unless ``prompt``, ``conversation`` or ``previous_response_id`` stands
  in for it): ``Missing required parameter: 'model'.``, code ``missing_required_parameter``;
- a value of the wrong type: ``Invalid type for 'input': expected ..., but got an integer instead.``,
  code ``invalid_type``; one outside its values: ``Invalid value: ...``, code ``invalid_value``; a
  number out of range: ``integer_below_min_value`` and the like;
- a model the server does not serve: ``The requested model 'x' does not exist.``, param ``model``,
  code ``model_not_found`` (400, as the Responses API answers it);
- a ``previous_response_id``: ``Previous response with id 'x' not found.`` (code
  ``previous_response_not_found``): a stand-in keeps no responses, as with ``store: false``; a stored
  ``conversation`` or ``prompt`` is likewise not found.

Input items and tools are checked as far as a stand-in needs: each item is an object of a known
``type`` with the fields that type requires (a message's ``role`` and ``content``, a function call's
``call_id``, ``name`` and ``arguments``, an output's ``call_id`` and ``output``); each tool an object of a
known ``type``, a function or custom tool with its ``name``, a namespace with its ``tools``. Keys inside
items and tools are not checked for being known (Codex sends ids on its input messages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

NOT_JSON = ("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")


@dataclass(eq=False)
class Refusal(Exception):
    """The API's answer to a request it will not serve."""

    message: str
    param: str | None = None
    code: str | None = None
    status: int = 400
    type: str = "invalid_request_error"

    def __str__(self) -> str:
        return self.message

    def error(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}


Check = Callable[[str, Any], None]


# -- the API's words for values ---------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _listed(values: Iterable[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def _wrong_type(param: str, expected: str, value: Any) -> Refusal:
    return Refusal(f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
                   param, "invalid_type")


def _missing(param: str) -> Refusal:
    return Refusal(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _unknown(param: str) -> Refusal:
    return Refusal(f"Unknown parameter: '{param}'.", param, "unknown_parameter")


# -- checks for one value ---------------------------------------------------------------------------


def string(nullable: bool = True) -> Check:
    def check(param: str, value: Any) -> None:
        if not (isinstance(value, str) or (nullable and value is None)):
            raise _wrong_type(param, "a string", value)
    return check


def boolean(nullable: bool = True) -> Check:
    def check(param: str, value: Any) -> None:
        if not (isinstance(value, bool) or (nullable and value is None)):
            raise _wrong_type(param, "a boolean", value)
    return check


def number(low: float | None = None, high: float | None = None, *, integer: bool = False,
           nullable: bool = True) -> Check:
    word = "integer" if integer else "decimal"

    def check(param: str, value: Any) -> None:
        if value is None and nullable:
            return
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            raise _wrong_type(param, "an integer" if integer else "a number", value)
        if low is not None and value < low:
            raise Refusal(f"Invalid '{param}': {word} below minimum value. Expected a value >= {low:g}, but got "
                          f"{value:g} instead.", param, f"{word}_below_min_value")
        if high is not None and value > high:
            raise Refusal(f"Invalid '{param}': {word} above maximum value. Expected a value <= {high:g}, but got "
                          f"{value:g} instead.", param, f"{word}_above_max_value")
    return check


def one_of(*values: str, nullable: bool = True) -> Check:
    def check(param: str, value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, str):
            raise _wrong_type(param, "a string", value)
        if value not in values:
            raise Refusal(f"Invalid value: '{value}'. Supported values are: {_listed(values)}.", param, "invalid_value")
    return check


def array(item: Check, nullable: bool = True) -> Check:
    def check(param: str, value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, list):
            raise _wrong_type(param, "an array", value)
        for n, element in enumerate(value):
            item(f"{param}[{n}]", element)
    return check


def obj(fields: dict[str, Check] | None = None, required: tuple[str, ...] = (), *, closed: bool = True,
        nullable: bool = True) -> Check:
    """An object; with ``closed``, keys outside ``fields`` are unknown parameters."""
    def check(param: str, value: Any) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object", value)
        _fields(param, value, fields or {}, required, closed)
    return check


def string_map(max_keys: int | None = None, key_chars: int | None = None, value_chars: int | None = None) -> Check:
    """An object of strings (``metadata``: at most 16 keys of 64 characters, values of 512)."""
    def check(param: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object", value)
        if max_keys is not None and len(value) > max_keys:
            raise Refusal(f"Invalid '{param}': too many properties. Expected an object with at most {max_keys} "
                          f"properties, but got an object with {len(value)} properties instead.", param,
                          "object_above_max_properties")
        for key, text in value.items():
            if key_chars is not None and len(key) > key_chars:
                raise Refusal(f"Invalid '{param}': key '{key[:80]}' is longer than {key_chars} characters.", param,
                              "invalid_value")
            if not isinstance(text, str):
                raise _wrong_type(f"{param}.{key}", "a string", text)
            if value_chars is not None and len(text) > value_chars:
                raise Refusal(f"Invalid '{param}.{key}': string too long. Expected a string with maximum length "
                              f"{value_chars}, but got a string with length {len(text)} instead.", f"{param}.{key}",
                              "string_above_max_length")
    return check


def either(expected: str, *choices: tuple[type | tuple[type, ...], Check]) -> Check:
    """A union told apart by JSON type: the first choice whose Python type matches checks the value."""
    def check(param: str, value: Any) -> None:
        for kind, choice in choices:
            if isinstance(value, kind):
                choice(param, value)
                return
        raise _wrong_type(param, expected, value)
    return check


def _fields(param: str, value: dict[str, Any], fields: dict[str, Check], required: Iterable[str],
            closed: bool) -> None:
    prefix = f"{param}." if param else ""
    if closed:
        for key in value:
            if key not in fields:
                raise _unknown(prefix + key)
    for key in required:
        if key not in value:
            raise _missing(prefix + key)
    for key, check in fields.items():
        if key in value:
            check(prefix + key, value[key])


# -- input items -------------------------------------------------------------------------------------

ITEM_TYPES = (
    "message", "file_search_call", "computer_call", "computer_call_output", "web_search_call", "function_call",
    "function_call_output", "tool_search_call", "tool_search_output", "additional_tools", "reasoning", "compaction",
    "image_generation_call", "code_interpreter_call", "local_shell_call", "local_shell_call_output", "shell_call",
    "shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
    "mcp_approval_response", "mcp_call", "custom_tool_call_output", "custom_tool_call", "compaction_trigger",
    "item_reference", "program", "program_output",
)
ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text", "summary_text", "reasoning_text")


def _content_part(param: str, part: Any) -> None:
    if not isinstance(part, dict):
        raise _wrong_type(param, "an object", part)
    if "type" not in part:
        raise _missing(f"{param}.type")
    string(nullable=False)(f"{param}.type", part["type"])
    if part["type"] in TEXT_PARTS:
        if "text" not in part:
            raise _missing(f"{param}.text")
        string(nullable=False)(f"{param}.text", part["text"])


_content = either("one of a string or an array of content parts",
                  (str, lambda p, v: None), (list, array(_content_part, nullable=False)))
_text = string(nullable=False)
ITEM_FIELDS: dict[str, tuple[dict[str, Check], tuple[str, ...]]] = {
    "message": ({"role": one_of(*ROLES, nullable=False), "content": _content}, ("role", "content")),
    "function_call": ({"call_id": _text, "name": _text, "arguments": _text, "namespace": _text},
                      ("call_id", "name", "arguments")),
    "function_call_output": ({"call_id": _text, "output": _content}, ("call_id", "output")),
    "custom_tool_call": ({"call_id": _text, "name": _text, "input": _text, "namespace": _text},
                         ("call_id", "name", "input")),
    "custom_tool_call_output": ({"call_id": _text, "output": _content}, ("call_id", "output")),
    "reasoning": ({"summary": array(obj({"type": _text, "text": _text}, ("type", "text"), closed=False),
                                    nullable=False)}, ("summary",)),
    "item_reference": ({"id": _text}, ("id",)),
}


def _input_item(param: str, item: Any) -> None:
    if not isinstance(item, dict):
        raise _wrong_type(param, "an input item object", item)
    kind = item.get("type", "message")  # a message may leave its type out
    one_of(*ITEM_TYPES, nullable=False)(f"{param}.type", kind)
    fields, required = ITEM_FIELDS.get(kind, ({}, ()))
    _fields(param, item, fields, required, closed=False)


# -- tools -------------------------------------------------------------------------------------------

TOOL_TYPES = (
    "function", "file_search", "computer", "computer_use_preview", "web_search", "web_search_2025_08_26", "mcp",
    "code_interpreter", "programmatic_tool_calling", "image_generation", "local_shell", "shell", "custom",
    "namespace", "tool_search", "web_search_preview", "web_search_preview_2025_03_11", "apply_patch",
)
_FUNCTION = {"name": _text, "parameters": obj(closed=False), "strict": boolean(), "description": string()}


def _tool(param: str, tool: Any, types: tuple[str, ...] = TOOL_TYPES) -> None:
    if not isinstance(tool, dict):
        raise _wrong_type(param, "an object", tool)
    if "type" not in tool:
        raise _missing(f"{param}.type")
    one_of(*types, nullable=False)(f"{param}.type", tool["type"])
    if tool["type"] == "function":
        _fields(param, tool, _FUNCTION, ("name",), closed=False)
    elif tool["type"] == "custom":
        _fields(param, tool, {"name": _text, "description": string()}, ("name",), closed=False)
    elif tool["type"] == "namespace":
        inner = array(lambda p, t: _tool(p, t, ("function", "custom")), nullable=False)
        _fields(param, tool, {"name": _text, "description": _text, "tools": inner}, ("name", "description", "tools"),
                closed=False)


def _tool_choice(param: str, value: Any) -> None:
    if isinstance(value, str):
        one_of("none", "auto", "required", nullable=False)(param, value)
    elif isinstance(value, dict):
        if "type" not in value:
            raise _missing(f"{param}.type")
        string(nullable=False)(f"{param}.type", value["type"])
    else:
        raise _wrong_type(param, "one of a string or an object", value)


# -- the request -------------------------------------------------------------------------------------

INCLUDABLE = (
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url", "code_interpreter_call.outputs",
    "reasoning.encrypted_content", "message.output_text.logprobs",
)
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SUMMARIES = ("auto", "concise", "detailed")

FIELDS: dict[str, Check] = {
    "background": boolean(),
    "client_metadata": string_map(),
    "context_management": array(obj({"type": _text, "compact_threshold": number(integer=True)}, ("type",))),
    "conversation": either("one of a string or an object", (str, lambda p, v: None),
                           (dict, obj({"id": _text}, ("id",)))),
    "include": array(one_of(*INCLUDABLE, nullable=False)),
    "input": either("one of a string or an array of input items", (str, lambda p, v: None),
                    (list, array(_input_item, nullable=False))),
    "instructions": string(),
    "max_output_tokens": number(16, integer=True),
    "max_tool_calls": number(0, integer=True),
    "metadata": string_map(16, 64, 512),
    "model": string(nullable=False),
    "moderation": obj({"model": _text, "policy": obj(closed=False)}, ("model",)),
    "parallel_tool_calls": boolean(),
    "previous_response_id": string(),
    "prompt": obj({"id": _text, "version": string(), "variables": obj(closed=False)}, ("id",)),
    "prompt_cache_key": string(),
    "prompt_cache_options": obj({"mode": one_of("implicit", "explicit"), "ttl": one_of("30m")}, nullable=False),
    "prompt_cache_retention": one_of("in_memory", "24h"),
    "reasoning": obj({"effort": one_of(*EFFORTS), "summary": one_of(*SUMMARIES), "generate_summary": one_of(*SUMMARIES),
                      "context": one_of("auto", "current_turn", "all_turns"), "mode": string()}),
    "safety_identifier": string(),
    "service_tier": one_of("auto", "default", "flex", "scale", "priority", "fast", "ultrafast"),
    "store": boolean(),
    "stream": boolean(),
    "stream_options": obj({"include_obfuscation": boolean(nullable=False)}),
    "temperature": number(0, 2),
    "text": obj({"format": obj({"type": one_of("text", "json_schema", "json_object", nullable=False)}, ("type",),
                               closed=False),
                 "verbosity": one_of("low", "medium", "high")}, nullable=False),
    "tool_choice": _tool_choice,
    "tools": array(_tool, nullable=False),
    "top_logprobs": number(0, 20, integer=True),
    "top_p": number(0, 1),
    "truncation": one_of("auto", "disabled"),
    "user": string(nullable=False),
}
STATEFUL = ("previous_response_id", "conversation", "prompt")  # each stands in for input; none is kept here


def check(body: Any, models: Iterable[str]) -> None:
    """Raise the API's ``Refusal`` for a parsed JSON ``body`` it would not serve with ``models``."""
    if not isinstance(body, dict):
        raise Refusal(f"Invalid type for request body: expected an object, but got {_kind(body)} instead.",
                      None, "invalid_type")
    for key in body:
        if key not in FIELDS:
            raise _unknown(key)
    if "model" not in body:
        raise _missing("model")
    if "input" not in body and not any(body.get(key) is not None for key in STATEFUL):
        raise _missing("input")
    _fields("", body, FIELDS, (), closed=True)
    if body["model"] not in set(models):
        raise Refusal(f"The requested model '{body['model']}' does not exist.", "model", "model_not_found")
    if body.get("previous_response_id") is not None:
        raise Refusal(f"Previous response with id '{body['previous_response_id']}' not found.",
                      "previous_response_id", "previous_response_not_found")
    if body.get("conversation") is not None:
        conversation = body["conversation"]
        ident = conversation if isinstance(conversation, str) else conversation["id"]
        raise Refusal(f"Conversation with id '{ident}' not found.", "conversation", None, status=404)
    if body.get("prompt") is not None:
        raise Refusal(f"Prompt with id '{body['prompt']['id']}' not found.", "prompt.id", None, status=404)
