import type { PolicyDocument } from '../../src/services/policy.js';
import { RESOURCE } from './app-harness.js';

/** The policy the integration tests run against: one rule per outcome. */
export const TEST_POLICY: PolicyDocument = {
  trusted_person_servers: ['https://ps.example'],
  resources: {
    [RESOURCE]: {
      fallback: 'omit',
      rules: [
        { id: 'admin-never', scopes: ['admin'], effect: 'deny' },
        { id: 'no-subagent-delete', scopes: ['delete'], when: { subagent: true }, effect: 'deny' },
        { id: 'delete-parent', scopes: ['delete'], effect: 'grant' },
        { id: 'read-trusted', scopes: ['read'], when: { ps_trusted: true }, effect: 'grant' },
        { id: 'write-acme', scopes: ['write'], when: { tenant: 'acme' }, effect: 'grant' },
        { id: 'deploy-attested', scopes: ['deploy'], when: { agent: { attested: true } }, effect: 'grant' },
        {
          id: 'billing-staff',
          scopes: ['billing'],
          when: { claims: { email: { suffix: '@example.com' } } },
          effect: 'grant',
        },
      ],
    },
  },
};
