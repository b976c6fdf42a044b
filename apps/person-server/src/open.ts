import { join } from 'node:path';
import { type KeyRing, loadKeyRing } from '@aauth-ref/fastify';
import { DEV_AGENT_KEYS_FILE, type PersonServerConfig } from './config.js';

export interface KeyRings {
  readonly psKeys: KeyRing;
  readonly apKeys: KeyRing;
}

/**
 * Both rings: `SIGNING_KEYS` for the PS, `AGENT_SIGNING_KEYS` for the Agent Provider. In dev mode each
 * is generated into its own file under DATA_DIR, so the two roles never share a key.
 */
export async function loadKeyRings(
  config: PersonServerConfig,
  onGenerated?: (path: string) => void,
): Promise<KeyRings> {
  const psKeys = await loadKeyRing({
    SIGNING_KEYS: config.SIGNING_KEYS,
    DATA_DIR: config.DATA_DIR,
    AAUTH_DEV: config.AAUTH_DEV,
    ...(onGenerated ? { onGenerated } : {}),
  });
  const apKeys = await loadKeyRing({
    SIGNING_KEYS: config.AGENT_SIGNING_KEYS,
    // The loader names its dev file signing-keys.json: give the AP its own folder for it.
    DATA_DIR: join(config.DATA_DIR, DEV_AGENT_KEYS_FILE.replace(/\.json$/, '')),
    AAUTH_DEV: config.AAUTH_DEV,
    ...(onGenerated ? { onGenerated } : {}),
  });
  const psKids = new Set(psKeys.published.map((k) => k.thumbprint));
  if (apKeys.published.some((k) => psKids.has(k.thumbprint))) {
    throw new Error(
      'AGENT_SIGNING_KEYS must not contain a SIGNING_KEYS key: the PS and its Agent Provider sign with different keys',
    );
  }
  return { psKeys, apKeys };
}
