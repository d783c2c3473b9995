// Swagger UI for the spec this same edge serves. The spec names no host or scheme, so "Try it out"
// calls the origin the page came from, whatever its port. validatorUrl null: no call to
// validator.swagger.io (the page works offline; its CSP allows this origin only).
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
