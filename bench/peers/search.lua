-- (c) Keel's search: TERM_Q (default tee: 12 demo products), 10 per page, with calculated
-- prices in the shopper's region. A 2xx without a hit counts as a bad body.
local dir = (debug.getinfo(1, "S").source:sub(2)):match("(.*/)") or "./"
dofile(dir .. "common.lua")
get_request("/v1/store/search?q=" .. (os.getenv("TERM_Q") or "tee") .. "&limit=10&region_id=" .. REGION_ID)
ok_pattern = '"data":[{'
function response(status, headers, body) classify(status, body) end
