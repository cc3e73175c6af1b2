"""The tool side of chat examples: tool definitions, and the calls assistant messages make."""

from __future__ import annotations

import orjson

from finetune_portal.datasets.validation.wording import json_type

MAX_FUNCTIONS = 128


def check_tool_calls(message, at, role, errors, sink) -> bool:
    """An assistant message's "tool_calls" or "function_call"; True when it makes a call (which may then
    stand in for its content). The calls' JSON counts as the message's text."""
    calls = message.get("tool_calls")
    function_call = message.get("function_call")
    if calls is None and function_call is None:
        return False
    if role != "assistant":
        errors.append(f"{at} ({role}): only assistant messages may call tools.")
        return False
    if function_call is not None:
        if not isinstance(function_call, dict) or not isinstance(function_call.get("name"), str):
            errors.append(f'{at} (assistant): "function_call" needs a "name".')
        else:
            _check_arguments(function_call.get("arguments"), f'{at} (assistant): "function_call"', errors)
        sink.append(orjson.dumps(function_call).decode())
    if calls is not None:
        if not isinstance(calls, list) or not calls:
            errors.append(f'{at} (assistant): "tool_calls" must be a non-empty list.')
            return False
        for call_index, call in enumerate(calls):
            call_at = f"{at}.tool_calls[{call_index}]"
            if not isinstance(call, dict):
                errors.append(f'{call_at} must be an object with "id", "type" and "function".')
                continue
            if not isinstance(call.get("id"), str) or not call["id"]:
                errors.append(
                    f'{call_at}: needs an "id" (a string the tool message\'s "tool_call_id" names).'
                )
            if call.get("type") != "function":
                errors.append(f'{call_at}: "type" must be "function".')
            function = call.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                errors.append(f'{call_at}: needs "function" with a "name".')
                continue
            _check_arguments(function.get("arguments"), call_at, errors)
        sink.append(orjson.dumps(calls).decode())
    return True


def _check_arguments(arguments, at: str, errors: list[str]) -> None:
    if not isinstance(arguments, str):
        errors.append(f'{at}: "arguments" must be a JSON string.')
        return
    try:
        orjson.loads(arguments)
    except orjson.JSONDecodeError:
        errors.append(f'{at}: "arguments" is not valid JSON.')


def check_tools(example: dict, errors: list[str], texts: list[str]) -> None:
    """The example's tool definitions ("tools", or the deprecated "functions") and "parallel_tool_calls"."""
    tools = example.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            errors.append('"tools" must be a list of tool definitions.')
        else:
            for index, tool in enumerate(tools):
                if not isinstance(tool, dict) or tool.get("type") != "function":
                    errors.append(
                        f'tools[{index}] must be {{"type": "function", "function": {{"name": ...}}}}.'
                    )
                else:
                    _check_function(tool.get("function"), f"tools[{index}].function", errors)
            texts.append(orjson.dumps(tools).decode())
    functions = example.get("functions")
    if functions is not None:
        if not isinstance(functions, list) or not 1 <= len(functions) <= MAX_FUNCTIONS:
            errors.append(f'"functions" must be a list of 1 to {MAX_FUNCTIONS} function definitions.')
        else:
            for index, function in enumerate(functions):
                _check_function(function, f"functions[{index}]", errors)
    parallel = example.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        errors.append('"parallel_tool_calls" must be true or false.')


def _check_function(function, at: str, errors: list[str]) -> None:
    """A function definition: a name, and parameters (a JSON Schema object) and description when given."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        errors.append(f'{at} must be an object with a string "name".')
        return
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        errors.append(f'{at}: "parameters" must be a JSON Schema object, not {json_type(parameters)}.')
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        errors.append(f'{at}: "description" must be a string, not {json_type(description)}.')
