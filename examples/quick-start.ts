/** The README's quick start, as a program. */
import { ServiceType, throttled, throttleManager, unifiedErrorHandling } from 'floodgate';

interface Sentiment {
  readonly label: 'positive' | 'negative';
}

class SentimentService {
  @throttled(ServiceType.LLM_API, { endpoint: 'sentiment' })
  @unifiedErrorHandling(ServiceType.LLM_API, { endpoint: 'sentiment' })
  async analyze(text: string): Promise<Sentiment> {
    // A real service would call the provider here.
    return { label: text.includes('love') ? 'positive' : 'negative' };
  }
}

throttleManager.configure(ServiceType.LLM_API, { requestsPerMinute: 60 });
const service = new SentimentService();
console.log(await service.analyze('I love this library'));
console.log(throttleManager.getStatusReport().scopes[ServiceType.LLM_API]?.counters);
