-- One database per server: they are different parties in AAuth and never share tables (ARCHITECTURE.md).
CREATE DATABASE person_server;
CREATE DATABASE auth_server;
CREATE DATABASE resource_server;
-- The second resource instance (call chaining's downstream) is a party of its own too.
CREATE DATABASE resource_server_archive;
