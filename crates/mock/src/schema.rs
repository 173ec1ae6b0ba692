//! The JSON schema of a tool's arguments, as an LLM is offered it (the function's
//! `parameters`) and as `/mcp` lists it (the tool's `inputSchema`): one function, so the two
//! cannot drift apart.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use scenario::ArgType;

/// The schema of an object with these arguments, every one required.
pub fn tool_parameters(args: &BTreeMap<String, ArgType>) -> Value {
    let properties: Map<String, Value> = args
        .iter()
        .map(|(arg, ty)| (arg.clone(), arg_schema(*ty)))
        .collect();
    let required: Vec<&String> = args.keys().collect();
    json!({"type": "object", "properties": properties, "required": required})
}

/// The JSON schema of one argument type.
fn arg_schema(arg: ArgType) -> Value {
    match arg {
        ArgType::String => json!({"type": "string"}),
        ArgType::Integer => json!({"type": "integer"}),
        ArgType::Number => json!({"type": "number"}),
        ArgType::Boolean => json!({"type": "boolean"}),
        ArgType::Path => json!({"type": "string", "format": "path", "description": "a file path"}),
        ArgType::Url => json!({"type": "string", "format": "uri"}),
        ArgType::Id => json!({"type": "string", "format": "id"}),
    }
}
