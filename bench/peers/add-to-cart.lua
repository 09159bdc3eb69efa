-- (d) Keel's add to cart, the Vendure harness's pattern on Keel's REST API:
-- each wrk thread keeps a pool of POOL (32) live carts. While the pool is short, a request creates
-- a cart (POST /v1/store/carts {"currency": CURRENCY}); response() takes its id from the answer.
-- Otherwise the next cart in turn gets one unit of a variant (POST /v1/store/carts/{id}/line-items),
-- skipping carts whose previous add is still unanswered (so no cart has two requests in flight,
-- as in the peers). The k-th add to a cart uses VARIANTS[k mod 4 + 1] (4 comma-separated variant
-- ids whose stock is not tracked); after ADDS_PER_CART (10) adds the cart is dropped for a new one,
-- so carts end with 4 lines and quantities 3,3,2,2.
-- ok_per_s in the RESULT line = successful adds per second; extra = carts created.
local dir = (debug.getinfo(1, "S").source:sub(2)):match("(.*/)") or "./"
dofile(dir .. "common.lua")

local POOL = tonumber(os.getenv("POOL") or "32")
local ADDS_PER_CART = tonumber(os.getenv("ADDS_PER_CART") or "10")
local CURRENCY = os.getenv("CURRENCY") or "EUR"
local variants = {}
for v in string.gmatch(os.getenv("VARIANTS") or "", "[^,]+") do table.insert(variants, v) end
ok_pattern = '"lines":[{'

local pool, uses, busy, known = {}, {}, {}, {}
local nxt, inflight_new, since_new = 0, 0, 0
local create_body = '{"currency":"' .. CURRENCY .. '"}'

function request()
  since_new = since_new + 1
  if inflight_new > 0 and since_new > 8 * POOL then inflight_new = 0 end -- a lost create: retry
  if #pool == 0 or #pool + inflight_new < POOL then
    inflight_new = inflight_new + 1
    return wrk.format("POST", "/v1/store/carts", json_headers, create_body)
  end
  local c
  for _ = 1, #pool do
    nxt = (nxt % #pool) + 1
    c = pool[nxt]
    if not busy[c] then break end
  end
  -- (every cart busy happens only after error answers; the next one is reused)
  busy[c] = true
  local n = uses[c]
  uses[c] = n + 1
  if uses[c] >= ADDS_PER_CART then -- last add to this cart: retire it
    table.remove(pool, nxt)
    nxt = nxt - 1
  end
  local body = '{"variant_id":"' .. variants[(n % #variants) + 1] .. '","quantity":1}'
  return wrk.format("POST", "/v1/store/carts/" .. c .. "/line-items", json_headers, body)
end

function response(status, headers, body)
  local c = body and string.match(body, '^{"id":"(cart_[0-9a-z]+)"')
  if c and not known[c] then -- a new cart
    known[c] = true
    uses[c] = 0
    table.insert(pool, c)
    n_extra = n_extra + 1
    inflight_new = math.max(0, inflight_new - 1)
    since_new = 0
    n_resp = n_resp + 1
    if status < 200 or status >= 300 then n_non2xx = n_non2xx + 1 end
    return
  end
  classify(status, body)
  if c then busy[c] = nil; if uses[c] and uses[c] >= ADDS_PER_CART then uses[c] = nil; known[c] = nil end end
end
