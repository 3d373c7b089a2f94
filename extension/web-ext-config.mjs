// web-ext's settings (read by `npm run lint`, and by `web-ext build` / `web-ext run`): ship only the extension.
export default {
  sourceDir: ".",
  ignoreFiles: ["node_modules/**", "tools/**", "package.json", "package-lock.json", "web-ext-config.mjs"],
};
