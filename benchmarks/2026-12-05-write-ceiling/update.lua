math.randomseed(os.time())
request = function()
  local id = math.random(1, 10000)
  local body = string.format('{"id": %d, "firstname": "F", "lastname": "L", "email": "u%d-%d@bench.io"}', id, id, math.random(1, 1000000000))
  return wrk.format("PUT", "/user-service/update", {["Content-Type"] = "application/json"}, body)
end
