import { hashPassword } from '@aauth-ref/fastify';
import type { UserStore } from './stores/prisma-users.js';

/**
 * Demo accounts of the resource's own sign-in (resource-managed access), development mode only:
 * their passwords are published in the README, so strict mode never creates them.
 */
export const DEMO_USERS = [
  { username: 'carol', password: 'carol-demo-password', displayName: 'Carol Example' },
  { username: 'dave', password: 'dave-demo-password', displayName: 'Dave Example' },
] as const;

/** Creates the demo users that do not exist yet; returns the usernames created. */
export async function seedDemoUsers(users: UserStore): Promise<string[]> {
  const created: string[] = [];
  for (const user of DEMO_USERS) {
    if (await users.findByUsername(user.username)) continue;
    const inserted = await users.createIfAbsent({
      username: user.username,
      passwordHash: await hashPassword(user.password),
      displayName: user.displayName,
    });
    if (inserted) created.push(user.username);
  }
  return created;
}
