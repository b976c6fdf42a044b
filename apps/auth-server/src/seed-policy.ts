import { readFile } from 'node:fs/promises';
import type { IdentifierPolicy } from '@aauth-ref/core';
import { type PolicyDocument, parsePolicyDocument } from './services/policy.js';
import type { PrismaClient } from './stores/prisma.js';
import { storePolicyDocument } from './stores/prisma-policies.js';

/** Reads, validates and stores the policy document at `path` (`POLICY_FILE`). */
export async function seedPolicyFile(
  prisma: PrismaClient,
  path: string,
  identifierPolicy: IdentifierPolicy,
): Promise<PolicyDocument> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new Error(`POLICY_FILE ${path} is not readable JSON`, { cause });
  }
  const document = parsePolicyDocument(parsed, identifierPolicy);
  await storePolicyDocument(prisma, document);
  return document;
}
