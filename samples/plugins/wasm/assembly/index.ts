// A proxy-wasm (ABI 0.2.1) HTTP filter for the Ambit waypoint's wasm host, built with AssemblyScript and
// @gcoredev/proxy-wasm-sdk-as. It denies requests carrying `x-block` (403 "blocked by wasm"), otherwise tags
// the request with `x-wasm: <plugin configuration>` and the response with `x-wasm-response: <request path>`.
export * from "@gcoredev/proxy-wasm-sdk-as/assembly/proxy";
import {
  RootContext,
  Context,
  registerRootContext,
  FilterHeadersStatusValues,
  stream_context,
  send_local_response,
  GrpcStatusValues,

  log,
  LogLevelValues,
} from "@gcoredev/proxy-wasm-sdk-as/assembly/runtime";

class TagRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Tag(context_id, this);
  }
}

class Tag extends Context {
  path: string = "";
  constructor(context_id: u32, root_context: TagRoot) {
    super(context_id, root_context);
  }
  onRequestHeaders(_headers: u32, _end_of_stream: bool): FilterHeadersStatusValues {
    if (stream_context.headers.request.get("x-block") != "") {
      log(LogLevelValues.info, "blocking request");
      send_local_response(403, "wasm_block", String.UTF8.encode("blocked by wasm"), [], GrpcStatusValues.Unknown);
      return FilterHeadersStatusValues.StopIteration;
    }
    this.path = stream_context.headers.request.get(":path");
    stream_context.headers.request.add("x-wasm", this.root_context.getConfiguration());
    return FilterHeadersStatusValues.Continue;
  }
  onResponseHeaders(_headers: u32, _end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add("x-wasm-response", this.path);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => {
  return new TagRoot(context_id);
}, "tag");
