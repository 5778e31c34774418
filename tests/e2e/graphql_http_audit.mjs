#!/usr/bin/env node
// Runs graphql-http's GraphQL-over-HTTP server audit against a live endpoint.
//
//   node tests/e2e/graphql_http_audit.mjs URL [TOKEN]
//
// TOKEN (or the XRM_TOKEN environment variable) is sent as `Authorization: Bearer TOKEN`
// with every request the audit makes. Prints one JSON object per audit on stdout:
// {"id", "name", "status": "ok"|"notice"|"warn"|"error", "reason", "httpStatus"}.
// The exit code is 0 whenever the audit ran, whatever it found; 2 on bad usage, 1 on a
// fatal error (the server could not be reached, say).
import { auditServer } from 'graphql-http';

const [url, tokenArg] = process.argv.slice(2);
const token = tokenArg || process.env.XRM_TOKEN || '';
if (!url) {
  console.error('usage: node graphql_http_audit.mjs URL [TOKEN]  (or XRM_TOKEN=TOKEN)');
  process.exit(2);
}

function withToken(input, init = {}) {
  const headers = new Headers(init.headers || {});
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

try {
  const results = await auditServer({ url, fetchFn: withToken });
  for (const result of results) {
    const line = { id: result.id, name: result.name, status: result.status };
    if (result.status !== 'ok') {
      line.reason = result.reason;
      line.httpStatus = result.response ? result.response.status : null;
    }
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
} catch (error) {
  console.error(`graphql-http audit failed to run: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
}
