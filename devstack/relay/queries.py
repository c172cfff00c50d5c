"""Every statement the pg_net relay runs, in one place. Values are always bound parameters."""

from __future__ import annotations

CHANNEL = "net_http_request"

LISTEN = "listen net_http_request"

# Deleting at claim time is what pg_net does: a request goes out at most once, and
# skip locked lets two relays share the queue without sending one request twice.
CLAIM = """
delete from net.http_request_queue
where id in (
  select id from net.http_request_queue
  order by id
  limit %(limit)s
  for update skip locked
)
returning id, method, url, headers, body, timeout_milliseconds
"""

RECORD = """
insert into net._http_response
  (id, status_code, content_type, headers, content, timed_out, error_msg)
values (%s, %s, %s, %s, %s, %s, %s)
"""

EXPIRE = "delete from net._http_response where created < now() - %(ttl)s::interval"
