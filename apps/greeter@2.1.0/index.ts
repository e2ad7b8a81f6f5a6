// Version 2.1.0 of a versioned app: /greeter (highest), /greeter@1, /greeter@^2, /greeter@2.1.0.
export default {
  routes: {
    "/": () => Response.json({ app: "greeter", version: "2.1.0" }),
    "/hi/:name": (req: Request & { params: { name: string } }) => new Response(`Hi ${req.params.name} from 2.1.0`),
  },
};
