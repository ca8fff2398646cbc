// Swagger UI over the app's own OpenAPI document; state-changing calls carry the CSRF token.
window.addEventListener("load", function () {
  var token = document.querySelector('meta[name="csrf-token"]').content;
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    requestInterceptor: function (req) { req.headers["X-CSRF-Token"] = token; return req; },
  });
});
