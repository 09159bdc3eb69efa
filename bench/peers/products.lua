-- (a) Keel's products page: 20 published products with their variants and each variant's
-- calculated price in the shopper's region (REGION_ID, the EUR region).
local dir = (debug.getinfo(1, "S").source:sub(2)):match("(.*/)") or "./"
dofile(dir .. "common.lua")
get_request("/v1/store/products?limit=20&region_id=" .. REGION_ID)
ok_pattern = '"calculated_price"'
function response(status, headers, body) classify(status, body) end
