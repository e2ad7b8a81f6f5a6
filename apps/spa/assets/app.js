// Client-side routing: every navigation under /spa/ serves index.html; this shows the route.
document.getElementById("route").textContent =
  "route: " + location.pathname + (window.__env__ ? " · env: " + JSON.stringify(window.__env__) : "");
