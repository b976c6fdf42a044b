-- A session grant established with an agent token is bound to the agent's identity (`iss`, `sub`),
-- not to one key, so it survives the agent's key rotation (docs/spec-decisions.md, *Resource server:
-- session tokens bound to the agent identity*). `NULL` for grants bound to a key alone.
ALTER TABLE "session_token" ADD COLUMN "agent_iss" TEXT;
ALTER TABLE "session_token" ADD COLUMN "agent_sub" TEXT;
