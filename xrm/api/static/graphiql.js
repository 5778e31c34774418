// xrm's GraphiQL start-up: served from 'self' (the page allows no inline script).
// A signed-in admin session authenticates with its cookie plus the session's CSRF
// token, which the page carries in <meta name="xrm-csrf"> and every request sends
// back as X-XRM-CSRF; a token in the headers tab (Authorization: Bearer ...) works too.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="xrm-csrf"]');
  var headers = meta ? { "X-XRM-CSRF": meta.getAttribute("content") } : {};
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname, headers: headers });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
    })
  );
})();
