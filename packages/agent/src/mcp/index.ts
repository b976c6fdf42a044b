export {
  AAuthMcpTransport,
  type AAuthMcpTransportOptions,
  type ConnectedMcpClient,
  connectMcpClient,
  MCP_CLIENT_INFO,
} from './client.js';
export { AAuthMcpFetch, type AAuthMcpFetchOptions } from './mcp-fetch.js';
