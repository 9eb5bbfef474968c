// `import path from "./x.napi" with { type: "file" }`: Bun gives the file's path (embedded when compiled).
declare module "*.napi" {
  const path: string;
  export default path;
}
