-- Runs only on the REST paths of methods declared with (farmlokal.api.v1.http_status_header): it
-- applies the status the servicer asked for with x-http-status (only over a 200) and drops the gRPC
-- headers the transcoder leaves. Every other route removes those headers statically (routes.py), so
-- this filter costs nothing on the hot path.

local STATUS_HEADER = "x-http-status"

function envoy_on_response(response_handle)
  local headers = response_handle:headers()
  local content_type = headers:get("content-type") or ""
  if content_type:sub(1, 16) == "application/grpc" then
    return
  end
  local wanted = headers:get(STATUS_HEADER)
  if wanted ~= nil and headers:get(":status") == "200" and wanted:match("^[1-5]%d%d$") then
    headers:replace(":status", wanted)
  end
  local leaked = {}
  for name, _ in pairs(headers) do
    if name == STATUS_HEADER or name:sub(1, 5) == "grpc-" then
      leaked[#leaked + 1] = name
    end
  end
  for _, name in ipairs(leaked) do
    headers:remove(name)
  end
end
