-- (b) Keel's product detail: one product by handle (HANDLE, default classic-tee: several
-- variants with options) with calculated prices in the shopper's region.
local dir = (debug.getinfo(1, "S").source:sub(2)):match("(.*/)") or "./"
dofile(dir .. "common.lua")
local handle = os.getenv("HANDLE") or "classic-tee"
get_request("/v1/store/products/" .. handle .. "?region_id=" .. REGION_ID)
ok_pattern = '"handle":"' .. handle .. '"'
function response(status, headers, body) classify(status, body) end
