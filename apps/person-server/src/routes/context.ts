import type { Clock, IssuerKeyResolver } from '@aauth-ref/core';
import type { LoginThrottle, PageSessions, RateLimiter } from '@aauth-ref/fastify';
import type { PersonServerConfig } from '../config.js';
import type { AuthTokenService } from '../services/auth-token-service.js';
import type { ClarificationService } from '../services/clarification-service.js';
import type { EnrollmentService, EnrollmentStore } from '../services/enrollment-service.js';
import type { MissionService, MissionStore } from '../services/mission-service.js';
import type { PendingService } from '../services/pending-service.js';
import type { PersonTokenService } from '../services/person-token-service.js';
import type { ResourceInteractionService } from '../services/resource-interaction.js';
import type { RevocationService } from '../services/revocation-service.js';
import type { PrismaClient } from '../stores/prisma.js';
import type { AgentBindingStore } from '../stores/prisma-bindings.js';
import type { PersonStore } from '../stores/prisma-persons.js';

/** What the routes share: built once in `buildApp`. */
export interface AppContext {
  readonly config: PersonServerConfig;
  readonly issuer: string;
  readonly clock: Clock;
  readonly prisma: PrismaClient;
  readonly keys: IssuerKeyResolver;
  readonly persons: PersonStore;
  readonly bindings: AgentBindingStore;
  readonly enrollmentStore: EnrollmentStore;
  readonly pending: PendingService;
  readonly enrollments: EnrollmentService;
  readonly personTokens: PersonTokenService;
  readonly authTokens: AuthTokenService;
  readonly clarifications: ClarificationService;
  readonly resourceInteractions: ResourceInteractionService;
  readonly revocations: RevocationService;
  readonly missions: MissionService;
  readonly missionStore: MissionStore;
  readonly sessions: PageSessions;
  readonly siteName: string;
  readonly loginThrottle: LoginThrottle;
  /**
   * Failed interaction codes (§Interaction Code Format, rate-limiting): a wrong code names no request,
   * so failures are counted per signed-in person (tight) and per client address (looser: many people
   * may share one address).
   */
  readonly codeAttempts: { readonly perPerson: RateLimiter; readonly perAddress: RateLimiter };
}
