-- wrk script: POST the benchmark's notification body to the URL's path (for examples/overhead).
wrk.method = "POST"
wrk.body = '{"notification_type":"user_message","source":"bench","payload":{"text":"hello from the load test","n":1}}'
wrk.headers["Content-Type"] = "application/json"
