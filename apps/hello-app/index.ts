// A worker app, routed by its folder name: GET /hello-app/anything → JSON echo of the path.
export default {
  fetch(req: Request): Response {
    const url = new URL(req.url);
    return Response.json({ app: "hello-app", path: url.pathname, method: req.method });
  },
};
