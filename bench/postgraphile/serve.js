// PostGraphile 4 on one PostgreSQL schema, for bench/bench_postgraphile.py.
//
//   node bench/postgraphile/serve.js <postgres://connection> <schema> <port>
//
// Production-like options (no query log, no GraphiQL, no watch mode), one Node
// process, so it is the anchor at its best. Prints "ready" once the schema is
// built; exits on SIGTERM/SIGINT.
"use strict";

const http = require("http");
const { postgraphile } = require("postgraphile");

const [connection, schema, port] = process.argv.slice(2);
if (!connection || !schema || !port) {
  console.error("usage: node serve.js <connection> <schema> <port>");
  process.exit(2);
}

const middleware = postgraphile(connection, schema, {
  disableQueryLog: true,
  graphiql: false,
  watchPg: false,
  retryOnInitFail: false,
  disableDefaultMutations: true,
  setofFunctionsContainNulls: false,
  showErrorStack: false,
  extendedErrors: [],
});

const server = http.createServer(middleware);
middleware
  .getGraphQLSchema()
  .then(() => {
    server.listen(Number(port), "127.0.0.1", () => console.log("ready"));
  })
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    middleware.release().finally(() => process.exit(0));
  });
}
