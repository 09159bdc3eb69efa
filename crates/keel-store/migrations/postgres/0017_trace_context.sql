-- The W3C trace context (`traceparent`) of the request that wrote a job or an event, so the work
-- it causes later (the relay's publish, the job's run) joins the same trace. Nullable and written
-- only by new code: an expand-only change that older nodes ignore, safe during a rolling deploy.
ALTER TABLE jobs ADD COLUMN traceparent TEXT;
ALTER TABLE outbox_events ADD COLUMN traceparent TEXT;
