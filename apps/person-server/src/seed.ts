import { hashPassword } from '@aauth-ref/fastify';
import type { PersonStore } from './stores/prisma-persons.js';

/**
 * Demo persons for development mode only (README, *Person Server*): their passwords are published,
 * so strict mode never creates them (`SEED_DEMO_PERSONS` is refused there).
 */
export const DEMO_PERSONS = [
  {
    username: 'alice',
    password: 'alice-demo-password',
    displayName: 'Alice Example',
    email: 'alice@example.com',
  },
  { username: 'bob', password: 'bob-demo-password', displayName: 'Bob Example', email: 'bob@example.com' },
] as const;

/** Creates the demo persons that do not exist yet; returns the usernames created. */
export async function seedDemoPersons(persons: PersonStore): Promise<string[]> {
  const created: string[] = [];
  for (const person of DEMO_PERSONS) {
    if (await persons.findByUsername(person.username)) continue;
    const inserted = await persons.createIfAbsent({
      username: person.username,
      passwordHash: await hashPassword(person.password),
      displayName: person.displayName,
      email: person.email,
    });
    if (inserted) created.push(person.username);
  }
  return created;
}
