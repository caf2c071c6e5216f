-- The payload is kept as the client sent it: `json` stores the text as it is (key order,
-- duplicate keys, number spellings, `\u0000` escapes), where `jsonb` normalised it and
-- refused NUL. The gateway never queries inside a payload. On an existing table this rewrites
-- it once.
alter table notifications alter column payload type json using payload::json;
