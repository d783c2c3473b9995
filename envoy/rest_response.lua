-- Edge response fix-ups: nosniff everywhere; on REST (non-gRPC) responses, apply the status a
-- service asked for with x-http-status and drop the gRPC plumbing headers the transcoder leaves.

local STATUS_HEADER = "x-http-status"

local function is_grpc(headers)
  local content_type = headers:get("content-type") or ""
  return content_type:sub(1, 16) == "application/grpc"
end

function envoy_on_response(response_handle)
  local headers = response_handle:headers()
  headers:replace("x-content-type-options", "nosniff")
  -- Native gRPC clients need grpc-status and friends; only REST responses are cleaned.
  if is_grpc(headers) then
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
