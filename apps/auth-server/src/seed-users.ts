import { hashPassword } from '@aauth-ref/fastify';
import type { PersonStore } from './stores/prisma-federation.js';

/**
 * Demo accounts for development mode only (README, *Auth server*): their passwords are published, so
 * strict mode never creates them (`SEED_DEMO_USERS` is refused there).
 */
export const DEMO_USERS = [
  { username: 'carol', password: 'carol-demo-password', displayName: 'Carol Example', isAdmin: false },
  { username: 'admin', password: 'admin-demo-password', displayName: 'AS Administrator', isAdmin: true },
] as const;

/** Creates the demo accounts that do not exist yet; returns the usernames created. */
export async function seedDemoUsers(persons: PersonStore): Promise<string[]> {
  const created: string[] = [];
  for (const user of DEMO_USERS) {
    if (await persons.findByUsername(user.username)) continue;
    const inserted = await persons.createIfAbsent({
      username: user.username,
      passwordHash: await hashPassword(user.password),
      displayName: user.displayName,
      isAdmin: user.isAdmin,
    });
    if (inserted) created.push(user.username);
  }
  return created;
}
